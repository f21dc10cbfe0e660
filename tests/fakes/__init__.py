"""Hand-written fakes that speak a real service's wire protocol over a real socket."""
