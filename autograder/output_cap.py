"""Cap what a notebook's outputs may cost the grader: a mixin for nbclient's executor.

A kernel can send outputs of any size (two 150 MB ``display_data`` once gave a 367 MB
autograded notebook, 700 MB more grader memory and a 1.9 GB ``feedback`` run). With
:class:`OutputCap` among the bases of the executor (``SurvivingExecute``):

* every ZMQ socket of the kernel client refuses an incoming message part larger than the cap
  (``ZMQ_MAXMSGSIZE``), so such a message never lands in grader memory: ZMQ drops the
  connection and reconnects; outputs sent meanwhile are lost, and nbclient's wait for the
  cell's ``idle`` status then ends after ``iopub_timeout`` with a warning instead of failing
  the notebook (the execute reply on the shell channel still says whether the cell raised);
* outputs (stream, display data, execute results, display updates, widget messages) are
  counted per notebook; once the total passes the cap, later ones are dropped and the cell
  gets one stdout note ``[output truncated: ...]``; error outputs are always kept (their
  ``evalue`` and traceback cut to :data:`ERROR_BYTES`), so a failing test cell still fails.

The cap is ``max_output_bytes`` of the sandbox configuration (kernelspec metadata, written by
:func:`autograder.sandbox.write_kernelspec`), else the ``OutputCap.max_output_bytes`` trait.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
from traitlets import Integer
from traitlets.config import Configurable

ERROR_BYTES = 16 * 1024  # evalue and traceback of one error output are cut to this
_SLACK = 64 * 1024  # message headers around the largest output allowed


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


class OutputCap(Configurable):
    """Mixin (before nbclient's ``NotebookClient`` in the bases): bounded outputs."""

    max_output_bytes = Integer(
        32 << 20, help="outputs kept per notebook (bytes); also the largest ZMQ message part "
                       "the grader accepts").tag(config=True)

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
        import zmq

        self.__dict__["_output_cap_state"] = {"used": 0, "noted": set()}
        limit = self._cap() + _SLACK
        make_client = self.km.client

        def client(**kwargs: Any) -> Any:
            kc = make_client(**kwargs)
            # default options of every socket this client's context creates (its channels)
            kc.context.setsockopt(zmq.MAXMSGSIZE, limit)
            return kc

        self.km.client = client
        try:
            kc = await super().async_start_new_kernel_client()
        finally:
            del self.km.client
        # a lost ``idle`` message (connection dropped on an oversized part) must not fail
        # the whole notebook: the shell reply still carries the cell's status
        self.raise_on_iopub_timeout = False
        return kc

    def _over(self, outs: list, cell_index: int, size: int) -> bool:
        """Count ``size`` bytes; True (and a note in the cell, once) if past the cap."""
        state = self._cap_state()
        cap = self._cap()
        if state["used"] + size <= cap:
            state["used"] += size
            return False
        state["used"] = cap + 1
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
            state["used"] = self._cap() + 1
            return
        if msg.get("msg_type") == "update_display_data":  # others are counted by output()
            state["used"] += size
        super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        if self._over(outs, cell_index, _size(msg.get("content", {}))):
            return
        super().handle_comm_msg(outs, msg, cell_index)
