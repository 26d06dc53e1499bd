"""Model A / Model B: assembling packaged weights, building tiny test models, loading safely."""
