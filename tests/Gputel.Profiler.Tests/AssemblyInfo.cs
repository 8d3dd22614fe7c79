// Memory accounting reads the process-wide malloc figures: tests allocating in parallel would
// show up in each other's numbers, so this assembly runs its tests one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
