"""The models vsrcli ships (weights, machine-readable and human-readable cards), installed as vsrcli.weights."""
