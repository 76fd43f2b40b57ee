"""Audio I/O for the app: a streaming player, a recorder with a level meter, WAV export.

sounddevice is imported lazily (``audio.devices.sounddevice()``) because importing it fails on
machines without the PortAudio library; the app then still starts and explains what is missing.
"""
