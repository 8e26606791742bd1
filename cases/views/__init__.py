"""The staff side of the cases module: the queue (queue.py), registering a filing made through
another channel (register.py), the case page with its documents and knowledge base (detail.py)
and the workflow's POST actions (actions.py)."""
