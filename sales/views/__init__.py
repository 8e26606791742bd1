"""The promotion module's pages: funnel (leads, board, opportunities, forecast, catalogue,
quotes) in these modules; field work in ``fieldwork.py`` and ``calendar.py``."""
