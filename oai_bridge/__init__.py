"""OpenAI-Compatible Bridge: pure helpers that normalise OpenAI-compatible servers for Dify."""
