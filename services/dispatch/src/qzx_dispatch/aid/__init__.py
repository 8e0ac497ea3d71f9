"""Mutual aid: a dispatcher proposes a neighbouring city's unit for an alert; a commander of the
unit's city accepts (the task is made, and both cities see it) or declines."""
