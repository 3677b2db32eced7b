"""Generated gRPC contracts of OMP (package omp.v1). Regenerate with scripts/gen_protos."""
