"""Speech-to-text and text-to-speech over OpenAI-style `/audio/*` endpoints (issue 13)."""
