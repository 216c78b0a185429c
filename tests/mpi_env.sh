# mpi_env.sh — sourced by the MPI tests: Open MPI 4.1 as root on a small box, oversubscribed,
# idle ranks yielding the CPU, shared memory between ranks and TCP over loopback only.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl=self,vader,tcp
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
# the non-wall-clock columns of a metrics.csv (the determinism promise covers exactly these)
det_cols() {
  awk -F, 'NR==1{for(i=1;i<=NF;i++) keep[i] = ($i !~ /^(updates_per_s|steps_per_s|t_.*_s|wall_s)$/)}
           {out=""; for(i=1;i<=NF;i++) if(keep[i]) out=out $i ","; print out}' "$1"
}
