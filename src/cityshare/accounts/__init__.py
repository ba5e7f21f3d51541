"""Accounts: users, API tokens, second factors and organisations."""
