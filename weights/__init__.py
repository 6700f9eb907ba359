"""The models vsrcli ships (weights, machine- and human-readable cards), installed as vsrcli.weights."""
