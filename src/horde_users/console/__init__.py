"""The moderator console: a local web page over the moderation toolkit (``horde-users console``).

It runs on this computer only (127.0.0.1 by default), keeps the API key on the server side, and gives
the browser a session cookie in exchange for the one-time token in the printed address.
"""

from horde_users._extras import require

require("console")
