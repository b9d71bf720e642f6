"""`make demo`: the main job end to end through the gateway of the running local stack."""
