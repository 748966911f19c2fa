"""The LLM model type over OpenAI's Responses API (`POST /responses`): request bodies, the event
reader and the whole-answer parser. Stateless: every call carries the whole conversation."""
