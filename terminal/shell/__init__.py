"""The terminal's shell: a TPE on the network (``tpe``: purchases and their faults), and the
halves it is made of: connection and sign-on (``session``), store-and-forward (``saf``), the
cancel key (``voids``), QR codes shown (``qr_sales``), the till (``till``) and
pre-authorizations (``preauth``)."""
