export * from './codec.js'
export * from './state-machine.js'
export * from './node.js'
export * from './local-chain.js'
