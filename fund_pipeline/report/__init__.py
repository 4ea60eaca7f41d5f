"""The auditors' report: an Excel workbook and an HTML page per run, in Chinese."""
