/** The input layer: inventory and playbook files in, validated and resolved {@link Inventory} / {@link Playbook} out. */
export {loadInventory, loadPlaybook, loadStack} from './load.js'
export {expandTemplate, type TemplateVars} from './template.js'
export * from './types.js'
