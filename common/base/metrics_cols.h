/* metrics_cols — the columns of metrics.csv, once (the run log writes them, the experiment
 * tools read and check them by name). X(name, wall): wall = 1 for columns that depend on
 * timing (the determinism promise covers every other column). */
#ifndef USBPO_METRICS_COLS_H
#define USBPO_METRICS_COLS_H

#define METRICS_COLUMNS                                                                            \
  X(epoch, 0)                                                                                      \
  X(env_steps, 0)                                                                                  \
  X(total_env_steps, 0)                                                                            \
  X(eval_return, 0)                                                                                \
  X(eval_return_std, 0)                                                                            \
  X(eval_length, 0)                                                                                \
  X(train_return, 0)                                                                               \
  X(train_episodes, 0)                                                                             \
  X(sac_updates, 0)                                                                                \
  X(sac_q_loss, 0)                                                                                 \
  X(sac_pi_loss, 0)                                                                                \
  X(alpha, 0)                                                                                      \
  X(alpha_loss, 0)                                                                                 \
  X(entropy, 0)                                                                                    \
  X(q_mean, 0)                                                                                     \
  X(env_buffer, 0)                                                                                 \
  X(model_buffer, 0)                                                                               \
  X(rollout_length, 0)                                                                             \
  X(model_trainings, 0)                                                                            \
  X(model_epochs, 0)                                                                               \
  X(model_epochs_total, 0)                                                                         \
  X(model_holdout_mse, 0)                                                                          \
  X(model_holdout_mse_elites, 0)                                                                   \
  X(model_holdout_mse_p1, 0)                                                                       \
  X(ft_j_before, 0)                                                                                \
  X(ft_j_after, 0)                                                                                 \
  X(ft_shift, 0)                                                                                   \
  X(ft_bias, 0)                                                                                    \
  X(ft_shift_before, 0)                                                                            \
  X(ft_bias_before, 0)                                                                             \
  X(ft_steps, 0)                                                                                   \
  X(ft_steps_total, 0)                                                                             \
  X(ft_kept_step, 0)                                                                               \
  X(ft_pulled_back, 0)                                                                             \
  X(ft_kept0, 0)                                                                                   \
  X(ft_dw_rms, 0)                                                                                  \
  X(rollout_rows, 0)                                                                               \
  X(rollout_nonfinite, 0)                                                                          \
  X(sim_errors, 0)                                                                                 \
  X(mj_warnings, 0)                                                                                \
  X(nan_rollbacks, 0)                                                                              \
  X(blas_kernel_changes, 0)                                                                        \
  X(policy_lag, 0)                                                                                 \
  X(model_lag, 0)                                                                                  \
  X(dropped_model_rows, 0)                                                                         \
  X(updates_per_real_step, 0)                                                                      \
  X(updates_per_s, 1)                                                                              \
  X(steps_per_s, 1)                                                                                \
  X(t_sac_s, 1)                                                                                    \
  X(t_model_s, 1)                                                                                  \
  X(t_phase2_s, 1)                                                                                 \
  X(t_rollout_s, 1)                                                                                \
  X(t_env_s, 1)                                                                                    \
  X(t_comm_s, 1)                                                                                   \
  X(wall_s, 1)

#endif
