"""The metrics of DESIGN §3: definitions and the SQL that counts them, Flask-free."""
