/**
 * The shapes a loaded policy set is made of. Kept apart from the loader so that the compiler, the
 * engine adapter and the planner can depend on the shapes without depending on file reading or
 * validation.
 */
import type { SessionFacts } from '../facts.ts';

export type Action = 'kill' | 'protect' | 'report';

export const ACTIONS: readonly Action[] = ['kill', 'protect', 'report'];

/** A comparison of one fact with a value (json-rules-engine's "fact / operator / value" condition). */
export interface LeafCondition {
  fact: keyof SessionFacts;
  operator: string;
  value: unknown;
}

/**
 * A node of a condition tree, in json-rules-engine's shape. Only all / any / not and leaves:
 * `path`, `params` and condition references are refused at load time because facts are flat
 * constants.
 */
export type ConditionNode =
  | { all: ConditionNode[] }
  | { any: ConditionNode[] }
  | { not: ConditionNode }
  | LeafCondition;

/** The root of a rule's conditions: json-rules-engine requires a boolean operator there. */
export type TopLevelCondition = { all: ConditionNode[] } | { any: ConditionNode[] } | { not: ConditionNode };

export interface LoadedRule {
  name: string;
  /** File name (relative to the policy directory) the rule came from. */
  file: string;
  priority: number;
  action: Action;
  /** The reason with every {parameter} placeholder replaced by the parameter's value. */
  reason: string;
  /** The condition tree with every {"param": name} value replaced by the parameter's value. */
  conditions: TopLevelCondition;
  description?: string;
}

export type ParameterSource = 'default' | 'env' | 'override';

/** Where a parameter's value came from, so `--help`, logs and the audit can say why a threshold is what it is. */
export interface ParameterInfo {
  name: string;
  value: number;
  source: ParameterSource;
  default: number;
  env?: string;
  flag?: string;
  description: string;
  minimum?: number;
  maximum?: number;
  /** Files that declare the parameter (identically). */
  declaredIn: string[];
}

export interface PolicySet {
  dir: string;
  /** Policy file names, sorted: the load order. */
  files: string[];
  parameters: Record<string, number>;
  /** Rules in load order (files by name, then rules in file order). */
  rules: LoadedRule[];
  /** Added beyond the brief: declaration and provenance of every parameter (same keys as `parameters`). */
  parameterInfo: Record<string, ParameterInfo>;
  /** Rules switched off by their "enabled" parameter (not in `rules`). */
  disabledRules?: { name: string; file: string; param: string }[];
}

export function isAll(node: ConditionNode): node is { all: ConditionNode[] } {
  return Object.prototype.hasOwnProperty.call(node, 'all');
}
export function isAny(node: ConditionNode): node is { any: ConditionNode[] } {
  return Object.prototype.hasOwnProperty.call(node, 'any');
}
export function isNot(node: ConditionNode): node is { not: ConditionNode } {
  return Object.prototype.hasOwnProperty.call(node, 'not');
}
