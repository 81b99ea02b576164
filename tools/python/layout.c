/* Prints sizeof and offsetof of every C struct the Python package mirrors
 * with ctypes (cogmem/_lib.py), one "NAME SIZE" or "NAME.FIELD OFFSET" per
 * line. tests/test_layout.py compares them with the mirrors, so a field
 * added, moved or resized in a public header cannot go unnoticed. */
#include <stddef.h>
#include <stdio.h>

#include "cogmem.h"

#define S(T) printf("%s %zu\n", #T, sizeof(T))
#define F(T, f) printf("%s.%s %zu\n", #T, #f, offsetof(T, f))

int main(void)
{
    S(cogmem_config);
    F(cogmem_config, struct_size); F(cogmem_config, dim);
    F(cogmem_config, expected_concepts); F(cogmem_config, expected_episodes);
    F(cogmem_config, fan_mode); F(cogmem_config, actr_max_assoc);
    F(cogmem_config, actr_decay); F(cogmem_config, actr_history);
    F(cogmem_config, actr_latency_factor); F(cogmem_config, actr_threshold);
    F(cogmem_config, actr_noise); F(cogmem_config, numa_policy);
    F(cogmem_config, concept_node); F(cogmem_config, episode_node);
    F(cogmem_config, stats); F(cogmem_config, bf16_rows);
    F(cogmem_config, path); F(cogmem_config, durability);
    F(cogmem_config, sync_interval_ms); F(cogmem_config, max_episodes);
    F(cogmem_config, index); F(cogmem_config, index_m);
    F(cogmem_config, index_ef_construction); F(cogmem_config, index_ef_search);
    F(cogmem_config, open_mode);

    S(struct cogmem_concept_info);
    F(struct cogmem_concept_info, id); F(struct cogmem_concept_info, created_ns);
    F(struct cogmem_concept_info, touched_ns); F(struct cogmem_concept_info, fan_out);
    F(struct cogmem_concept_info, binding_version);
    F(struct cogmem_concept_info, centroid_version);
    F(struct cogmem_concept_info, activation); F(struct cogmem_concept_info, norm);

    S(struct cogmem_episode_info);
    F(struct cogmem_episode_info, id); F(struct cogmem_episode_info, time_ns);
    F(struct cogmem_episode_info, fan_in); F(struct cogmem_episode_info, strength);
    F(struct cogmem_episode_info, activation); F(struct cogmem_episode_info, norm);

    S(struct cogmem_binding_info);
    F(struct cogmem_binding_info, episode); F(struct cogmem_binding_info, concept);
    F(struct cogmem_binding_info, strength); F(struct cogmem_binding_info, created_ns);
    F(struct cogmem_binding_info, touched_ns); F(struct cogmem_binding_info, decayed_ns);

    S(cogmem_recall_hit);
    F(cogmem_recall_hit, id); F(cogmem_recall_hit, kind); F(cogmem_recall_hit, score);

    S(cogmem_hit);
    F(cogmem_hit, id); F(cogmem_hit, kind); F(cogmem_hit, activation);

    S(cogmem_recall_params);
    F(cogmem_recall_params, struct_size); F(cogmem_recall_params, metric);
    F(cogmem_recall_params, min_score); F(cogmem_recall_params, filter);
    F(cogmem_recall_params, filter_arg); F(cogmem_recall_params, w_sim);
    F(cogmem_recall_params, w_recency); F(cogmem_recall_params, w_act);
    F(cogmem_recall_params, half_life_ns); F(cogmem_recall_params, now_ns);
    F(cogmem_recall_params, threads); F(cogmem_recall_params, parallel_min_work);
    F(cogmem_recall_params, bf16); F(cogmem_recall_params, bf16_rerank);

    S(cogmem_decay_params);
    F(cogmem_decay_params, struct_size); F(cogmem_decay_params, model);
    F(cogmem_decay_params, half_life_ns); F(cogmem_decay_params, power_d);
    F(cogmem_decay_params, power_scale_ns); F(cogmem_decay_params, factor);
    F(cogmem_decay_params, prune_below);

    S(cogmem_decay_result);
    F(cogmem_decay_result, struct_size); F(cogmem_decay_result, concepts);
    F(cogmem_decay_result, decayed); F(cogmem_decay_result, pruned);

    S(cogmem_source);
    F(cogmem_source, id); F(cogmem_source, weight);

    S(cogmem_spread_params);
    F(cogmem_spread_params, struct_size); F(cogmem_spread_params, max_depth);
    F(cogmem_spread_params, hop_decay); F(cogmem_spread_params, threshold);
    F(cogmem_spread_params, max_nodes); F(cogmem_spread_params, use_strength);
    F(cogmem_spread_params, fan_mode); F(cogmem_spread_params, add_base_level);
    F(cogmem_spread_params, now_ns);

    S(cogmem_form_params);
    F(cogmem_form_params, struct_size); F(cogmem_form_params, min_similarity);
    F(cogmem_form_params, min_coherence); F(cogmem_form_params, min_members);
    F(cogmem_form_params, select); F(cogmem_form_params, ids);
    F(cogmem_form_params, n_ids); F(cogmem_form_params, t_from_ns);
    F(cogmem_form_params, t_to_ns); F(cogmem_form_params, threads);
    F(cogmem_form_params, method); F(cogmem_form_params, exact_max);
    F(cogmem_form_params, refine_passes); F(cogmem_form_params, dry_run);
    F(cogmem_form_params, next_id); F(cogmem_form_params, id_fn);
    F(cogmem_form_params, id_arg);

    S(cogmem_form_concept);
    F(cogmem_form_concept, id); F(cogmem_form_concept, first);
    F(cogmem_form_concept, count); F(cogmem_form_concept, coherence);
    F(cogmem_form_concept, norm);

    S(cogmem_form_result);
    F(cogmem_form_result, struct_size); F(cogmem_form_result, n_selected);
    F(cogmem_form_result, n_clusters); F(cogmem_form_result, n_concepts);
    F(cogmem_form_result, n_members); F(cogmem_form_result, method);
    F(cogmem_form_result, selected); F(cogmem_form_result, labels);
    F(cogmem_form_result, concepts); F(cogmem_form_result, members);
    F(cogmem_form_result, contribution);

    S(cogmem_consolidate_result);
    F(cogmem_consolidate_result, struct_size); F(cogmem_consolidate_result, concept);
    F(cogmem_consolidate_result, score); F(cogmem_consolidate_result, strength);
    F(cogmem_consolidate_result, bound);

    S(cogmem_forget_params);
    F(cogmem_forget_params, struct_size); F(cogmem_forget_params, max_episodes);
    F(cogmem_forget_params, now_ns); F(cogmem_forget_params, w_binding);
    F(cogmem_forget_params, consolidated_bonus); F(cogmem_forget_params, dry_run);

    S(cogmem_forget_result);
    F(cogmem_forget_result, struct_size); F(cogmem_forget_result, examined);
    F(cogmem_forget_result, removed); F(cogmem_forget_result, unbound);
    F(cogmem_forget_result, max_retention);

    S(struct cogmem_open_report);
    F(struct cogmem_open_report, struct_size); F(struct cogmem_open_report, error);
    F(struct cogmem_open_report, snapshot); F(struct cogmem_open_report, snapshot_lsn);
    F(struct cogmem_open_report, concepts); F(struct cogmem_open_report, episodes);
    F(struct cogmem_open_report, bindings); F(struct cogmem_open_report, segments);
    F(struct cogmem_open_report, records_replayed);
    F(struct cogmem_open_report, records_skipped);
    F(struct cogmem_open_report, next_lsn);
    F(struct cogmem_open_report, tail_bytes_dropped);
    F(struct cogmem_open_report, temp_files_removed);
    F(struct cogmem_open_report, bad_file); F(struct cogmem_open_report, bad_section);
    F(struct cogmem_open_report, bad_offset); F(struct cogmem_open_report, detail);

    S(struct cogmem_snapshot_report);
    F(struct cogmem_snapshot_report, struct_size); F(struct cogmem_snapshot_report, error);
    F(struct cogmem_snapshot_report, snapshot); F(struct cogmem_snapshot_report, begin_lsn);
    F(struct cogmem_snapshot_report, concepts); F(struct cogmem_snapshot_report, episodes);
    F(struct cogmem_snapshot_report, bindings); F(struct cogmem_snapshot_report, histories);
    F(struct cogmem_snapshot_report, bad_kind); F(struct cogmem_snapshot_report, bad_id);
    F(struct cogmem_snapshot_report, mapped_file); F(struct cogmem_snapshot_report, detail);

    S(cogmem_snapshot_section);
    F(cogmem_snapshot_section, name); F(cogmem_snapshot_section, offset);
    F(cogmem_snapshot_section, length); F(cogmem_snapshot_section, count);
    F(cogmem_snapshot_section, xxh3);

    S(cogmem_snapshot_summary);
    F(cogmem_snapshot_summary, struct_size); F(cogmem_snapshot_summary, format_major);
    F(cogmem_snapshot_summary, format_minor); F(cogmem_snapshot_summary, compat);
    F(cogmem_snapshot_summary, ro_compat); F(cogmem_snapshot_summary, incompat);
    F(cogmem_snapshot_summary, dim); F(cogmem_snapshot_summary, row_bytes);
    F(cogmem_snapshot_summary, begin_lsn); F(cogmem_snapshot_summary, created_ns);
    F(cogmem_snapshot_summary, file_bytes); F(cogmem_snapshot_summary, fan_mode);
    F(cogmem_snapshot_summary, actr_max_assoc); F(cogmem_snapshot_summary, actr_decay);
    F(cogmem_snapshot_summary, actr_latency_factor);
    F(cogmem_snapshot_summary, actr_threshold); F(cogmem_snapshot_summary, actr_noise);
    F(cogmem_snapshot_summary, actr_history); F(cogmem_snapshot_summary, concepts);
    F(cogmem_snapshot_summary, episodes); F(cogmem_snapshot_summary, bindings);
    F(cogmem_snapshot_summary, histories); F(cogmem_snapshot_summary, vector_chunks);
    F(cogmem_snapshot_summary, nsections); F(cogmem_snapshot_summary, sections);
    F(cogmem_snapshot_summary, bad_section); F(cogmem_snapshot_summary, bad_offset);
    F(cogmem_snapshot_summary, detail);
    return 0;
}
