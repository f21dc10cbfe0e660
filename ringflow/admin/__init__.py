"""The admin API's areas, each a small module of handlers over plain domain functions:
agents (:mod:`.agents`), teams (:mod:`.teams`) and conversations (:mod:`.conversations`),
sharing what every area needs (:mod:`.context`)."""
