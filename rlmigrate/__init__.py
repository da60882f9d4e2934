"""rlmigrate: the command line above ``codemods`` (text -> text) and ``compat`` (runs models).

``rlmigrate.cli`` parses the command line; each sub-command lives in its own module:
``rlmigrate.migrate`` (imports ``codemods`` only), ``rlmigrate.parity`` and
``rlmigrate.demo`` (import ``compat``, torch and ray when they run, not when imported).
"""
