"""An offline stand-in for the Microsoft identity platform v2.0 and Microsoft Graph v1.0.

A development and test tool: `python -m m365_emulator --port 5001`, or `EmulatorServer().start()`
in-process. Imports nothing from `portal`. See README.md.
"""
