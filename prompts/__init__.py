"""Audio prompts: upload, validation, conversion to the telephony profile, text-to-speech.

* :mod:`prompts.errors`   the exception tree (reasons a user can act on)
* :mod:`prompts.audio`    sniffing, ffprobe/ffmpeg checks and conversion (8 kHz PCM and mu-law)
* :mod:`prompts.store`    the content-addressed files under ``<data_dir>/prompts``
* :mod:`prompts.db`       the ``prompts`` and ``speech_cache`` tables
* :mod:`prompts.service`  ``PromptService``: add, replace, delete, speech cache, media lookup
* :mod:`prompts.routes`   the public media routes Twilio's ``<Play>`` fetches
* :mod:`prompts.tts`      the speech engine (``TtsPool``)
"""
