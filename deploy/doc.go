// Package deploy holds no code: its tests check the cluster files beside
// it. deploy/slurm holds an sbatch script for a Slurm job array of
// ltransfer shards and the test that runs it on a real single-node Slurm
// cluster; deploy/k8s holds a Kubernetes Indexed Job and the Dockerfile of
// a static image. The tests here check that the Job runs the same command
// line as the sbatch script, that its resources, volumes and shard count
// agree with that command line, and that the image's binary is the static,
// cgo-free build of ./cmd/ltransfer.
package deploy
