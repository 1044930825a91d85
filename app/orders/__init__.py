"""Orders: the rules for placing and moving them, in one service both doors use."""
