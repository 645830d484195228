"""Student and reader tools: the local JupyterLab and the book."""
