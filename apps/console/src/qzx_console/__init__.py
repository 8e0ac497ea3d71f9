"""The command-centre console: one static page plus a reverse proxy to the three services.

`python -m qzx_console` serves it on 127.0.0.1:QZX_CONSOLE_PORT (default 8000).
"""
