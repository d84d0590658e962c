package pgprovider

const expNoRows = false
