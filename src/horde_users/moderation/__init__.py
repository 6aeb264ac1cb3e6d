"""The moderation toolkit: a local index of a horde's users, a journal of changes, undo and bulk changes.

Everything here is plain synchronous Python over :class:`horde_users.HordeUsers`; the command line and
the web console are thin shells over it. It needs the ``moderation`` extra
(``pip install 'horde-users[moderation]'``).
"""
