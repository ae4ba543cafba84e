/**
 * Which evaluator a pass uses: the compiled one (default) or json-rules-engine, the reference. Its own module,
 * so that the configuration can name the choices without loading either evaluator (nor re2js, the compiled
 * one's regex engine): the Atlas webhook reads the configuration and evaluates nothing.
 */
export const EVALUATORS = ['compiled', 'json-rules-engine'] as const;
export type EvaluatorKind = (typeof EVALUATORS)[number];
