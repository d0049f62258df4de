"""`make chaos`: faults injected into the running stack under steady load, and what came of them."""
