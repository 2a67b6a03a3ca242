"""The command line: the parser (``main``) and a module per family of subcommands (``cards``,
``decode``, ``ledger``, ``qr``, ``terminal``, ``broker``, ``bench``), their one-line errors and
exit codes (``exits``), output in text or JSON (``output``), and the console script
(``entry``)."""
