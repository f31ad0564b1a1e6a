"""Reports: the (test, architecture) matrix read from pytest's results, and its renderings: the
terminal grid and totals, JSON, Markdown, HTML and JUnit; and the merge of several runs' reports."""
