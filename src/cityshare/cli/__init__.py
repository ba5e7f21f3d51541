"""The ``cityshare`` command: ``app.py`` assembles the commands of ``audit.py``,
``devices.py``, ``harvest.py`` and ``mqtt.py``; ``support.py`` holds what they share
(opening the site, the console actor, serving). See docs/cli.md."""
