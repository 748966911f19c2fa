"""The LLM model type's call: which API one call takes (chat completions, completions or the
Responses API) and everything that goes with it, planned once from the settings and Dify's
call arguments."""
