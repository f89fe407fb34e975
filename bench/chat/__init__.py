"""Server B-chat: the Channels tutorial's chat consumer made persistent, as a Django developer would write it."""
