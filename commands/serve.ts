import {Flags} from '@oclif/core'

import {ChainupCommand, serveCommand, stateDirectory} from '../src/index.js'

export default class Serve extends ChainupCommand {
  static override summary = "Serve DEC-002's API over the journal: execute chains and councils over HTTP, a live NOC page, metrics."
  static override description = `REST API (docs/api.md, OpenAPI 3.1 at /v1/openapi.json), the live NOC page at /, Prometheus metrics at /metrics. Runs go through the same engine and journal as chainup upgrade. Only inventories under --inventories can be run, by name.
Listens on loopback by default; another address needs --tls-cert/--tls-key (or --insecure-http) and --tokens. Runs a previous server left running are listed as interrupted, never resumed on their own (POST /v1/executions/{id}/resume). Stops on SIGINT/SIGTERM: its live runs are cancelled and journaled.`
  static override examples = ['<%= config.bin %> serve --lab', '<%= config.bin %> serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --tokens /etc/chainup/tokens --inventories /etc/chainup/stacks']

  static override flags = {
    listen: Flags.string({description: 'HOST:PORT to listen on', default: '127.0.0.1:8080'}),
    inventories: Flags.string({description: 'directory of the inventories the server may run, by name (default ./inventories)'}),
    'state-dir': Flags.string({description: 'state directory: journal and results (default $XDG_STATE_HOME/chainup)'}),
    tokens: Flags.string({description: 'bearer tokens file: one "NAME ROLE SHA256-HEX" a line, roles viewer/operator (required off loopback)'}),
    'tls-cert': Flags.string({description: 'serve HTTPS with this certificate (PEM)', dependsOn: ['tls-key']}),
    'tls-key': Flags.string({description: 'the private key of --tls-cert (PEM)', dependsOn: ['tls-cert']}),
    'insecure-http': Flags.boolean({description: 'allow plain HTTP on a non-loopback address (a TLS proxy in front)'}),
    lab: Flags.boolean({description: "start simulated switches for each run's inventory (loopback only) and run against them"}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Serve)
    const server = await serveCommand({
      listen: flags.listen,
      ...(flags.inventories ? {inventoriesDir: flags.inventories} : {}),
      stateDir: stateDirectory(flags['state-dir']),
      ...(flags.tokens ? {tokensFile: flags.tokens} : {}),
      ...(flags['tls-cert'] ? {tlsCert: flags['tls-cert']} : {}),
      ...(flags['tls-key'] ? {tlsKey: flags['tls-key']} : {}),
      insecureHttp: flags['insecure-http'],
      lab: flags.lab,
      stderr: process.stderr,
    })
    this.log(`${server.url}/`)
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    process.stderr.write(`${new Date().toISOString()} stopping: live runs are cancelled and journaled\n`)
    await server.close()
  }
}
