"""The admin REST API, in one package: its plumbing (tokens, problem details, the endpoint
registry, OpenAPI), what every area shares (:mod:`.context`) and one small module per area
(workflows, recipes, contacts, schedules, calls, messages, prompts, agents, teams,
conversations) over the plain domain functions of the packages it serves.

This package may import the domain packages; they never import it."""
