"""Test harness: drive the plugin like Dify's daemon, run real and fake peer servers."""
