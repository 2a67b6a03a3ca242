"""The command line: ``tpesim`` and its subcommands (``main``), their one-line errors and exit
codes (``exits``), output in text or JSON (``output``), and the console script (``entry``)."""
