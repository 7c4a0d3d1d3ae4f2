"""What every stage shares: the errors a user can cause, files written atomically, and the console scripts' wrapper.

The light runtime ships it, so it imports nothing beyond the standard library and click.
"""
