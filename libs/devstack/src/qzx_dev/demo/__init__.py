"""The demo world of `make run`: its definition (``world``) and its seeding through the public APIs
(``seed``); ``python -m qzx_dev.demo`` seeds a running system and keeps its rosters topped up."""
