"""Cap what a notebook's outputs may cost the grader: a mixin for nbclient's executor.

A kernel can send outputs of any size (two 150 MB ``display_data`` once gave a 367 MB
autograded notebook, 700 MB more grader memory and a 1.9 GB ``feedback`` run). With
:class:`OutputCap` among the bases of the executor (``SurvivingExecute``):

* outputs (stream, display data, execute results, display updates, widget messages) are
  counted per notebook; an output that would take the total past the cap is dropped and its
  cell gets one stdout note ``[output truncated: ...]``; error outputs are always kept (their
  ``evalue`` and traceback cut to :data:`ERROR_BYTES`), so a failing test cell still fails.

* a message whose content is larger than the cap is never decoded: the client session checks
  its signature and replaces its content by a short ``[output truncated: ...]`` stub of the
  same kind (an error stays an error), so the grader holds only the received frames once.

Not done: refusing oversized messages at the socket (``ZMQ_MAXMSGSIZE``). libzmq treats an
oversized message as a protocol error and closes that connection for good (no reconnect), so
every later output of the notebook would be lost. A huge message's raw frames therefore pass
through the grader's memory once, bounded by what the kernel can build under its RLIMIT_AS.

The cap is ``max_output_bytes`` of the sandbox configuration (kernelspec metadata, written by
:func:`autograder.grade.sandbox.write_kernelspec`), else the ``OutputCap.max_output_bytes`` trait.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
from traitlets import Integer
from traitlets.config import Configurable

ERROR_BYTES = 16 * 1024  # evalue and traceback of one error output are cut to this


def truncation_note(cap: int) -> str:
    return (f"[output truncated: this notebook's outputs reached the grader's cap of "
            f"{cap / (1 << 20):g} MiB; later outputs were not kept]\n")


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _size(v) for k, v in value.items())
    if value is None:
        return 0
    return len(json.dumps(value, default=str))


def _cut(text: str, limit: int = ERROR_BYTES) -> str:
    return text if len(text) <= limit else text[:limit] + " [... truncated]"


def _frame_size(frame: Any) -> int:
    return len(frame.buffer) if hasattr(frame, "buffer") else len(frame)


def _stub(msg_type: str, size: int, cap: int) -> dict:
    """Small content standing in for an oversized message of ``msg_type``."""
    note = (f"[output truncated: a {size / (1 << 20):.0f} MiB {msg_type or 'message'} is "
            f"larger than the grader's output cap of {cap / (1 << 20):g} MiB]\n")
    if msg_type == "stream":
        return {"name": "stdout", "text": note}
    if msg_type == "error":
        return {"ename": "OutputTooLarge", "evalue": note.strip(), "traceback": [note.strip()]}
    if msg_type in ("display_data", "execute_result", "update_display_data"):
        stub: dict = {"data": {"text/plain": note}, "metadata": {}}
        if msg_type == "execute_result":
            stub["execution_count"] = None
        return stub
    if msg_type == "execute_reply":
        return {"status": "error", "ename": "OutputTooLarge", "evalue": note.strip(),
                "traceback": [note.strip()]}
    return {}


class OutputCap(Configurable):
    """Mixin (before nbclient's ``NotebookClient`` in the bases): bounded outputs."""

    max_output_bytes = Integer(
        32 << 20, help="outputs kept per notebook (bytes)").tag(config=True)

    def _cap(self) -> int:
        km = getattr(self, "km", None)
        spec = getattr(km, "kernel_spec", None) if km is not None else None
        value = (getattr(spec, "metadata", None) or {}).get("max_output_bytes")
        return int(value) if value else int(self.max_output_bytes)

    def _cap_state(self) -> dict:
        state = self.__dict__.get("_output_cap_state")
        if state is None:
            state = {"used": 0, "noted": set()}
            self.__dict__["_output_cap_state"] = state
        return state

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        session, cap = kc.session, self._cap()
        decode = session.deserialize

        def deserialize(msg_list: list, content: bool = True, copy: bool = True) -> dict:
            size = sum(_frame_size(f) for f in msg_list[4:])
            if not content or size <= cap:
                return decode(msg_list, content=content, copy=copy)
            msg = decode(msg_list, content=False, copy=copy)  # signature still checked
            add = getattr(session, "_add_digest", None)
            if callable(add) and msg_list:
                add(bytes(msg_list[0]) if copy else msg_list[0].bytes)
            msg["content"] = _stub(msg.get("msg_type", ""), size, cap)
            msg["buffers"] = []
            return msg

        session.deserialize = deserialize
        return kc

    def preprocess(self, *args: Any, **kwargs: Any) -> Any:
        self.__dict__["_output_cap_state"] = {"used": 0, "noted": set()}
        return super().preprocess(*args, **kwargs)

    def _over(self, outs: list, cell_index: int, size: int) -> bool:
        """Count ``size`` bytes; True (and a note in the cell, once) if past the cap."""
        state = self._cap_state()
        cap = self._cap()
        if state["used"] + size <= cap:
            state["used"] += size
            return False
        if cell_index not in state["noted"]:
            state["noted"].add(cell_index)
            outs.append(nbformat.v4.new_output("stream", name="stdout",
                                               text=truncation_note(cap)))
        return True

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> Any:
        content = msg.get("content", {})
        if msg.get("msg_type") == "error":
            content["evalue"] = _cut(str(content.get("evalue", "")))
            traceback = [str(line) for line in content.get("traceback", [])]
            if _size(traceback) > ERROR_BYTES:
                content["traceback"] = [_cut("\n".join(traceback))]
            self._cap_state()["used"] += _size(content)
            return super().output(outs, msg, display_id, cell_index)
        if self._over(outs, cell_index, _size(content)):
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        content = msg.get("content", {})
        state = self._cap_state()
        size = _size(content.get("data")) + _size(content.get("metadata"))
        if state["used"] + size > self._cap():
            return
        if msg.get("msg_type") == "update_display_data":  # others are counted by output()
            state["used"] += size
        super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        if self._over(outs, cell_index, _size(msg.get("content", {}))):
            return
        super().handle_comm_msg(outs, msg, cell_index)
