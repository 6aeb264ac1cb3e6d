"""``python -m horde_users``: the same command line as ``horde-users``."""

from horde_users.cli import main

if __name__ == "__main__":
    main()
