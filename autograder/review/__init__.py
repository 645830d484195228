"""Review stage: feedback pages, exports and the class report."""
