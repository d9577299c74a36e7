import { describe, expect, it } from 'vitest';
import { InvalidDatabaseSettingsError } from '../errors.js';
import { mongoSettingsFromEnv, parseMongoUri } from './settings.js';

describe('mongoSettingsFromEnv', () => {
  it('defaults to localhost:27017 and cluster_db', () => {
    expect(mongoSettingsFromEnv({})).toEqual({
      uri: 'mongodb://localhost:27017/',
      database: 'cluster_db',
      hosts: 'localhost:27017',
      description: 'mongodb://localhost:27017/',
      secrets: [],
    });
  });

  it("builds the contract's connection string from MONGODB_USERNAME and MONGODB_PASSWORD", () => {
    const settings = mongoSettingsFromEnv({ MONGODB_USERNAME: 'cloudai', MONGODB_PASSWORD: 'secret123' });
    expect(settings.uri).toBe('mongodb://cloudai:secret123@localhost:27017/');
    expect(settings.description).toBe('mongodb://cloudai:***@localhost:27017/');
    expect(settings.secrets).toContain('secret123');
  });

  it('percent-encodes user and password, and keeps both forms of the password secret', () => {
    const settings = mongoSettingsFromEnv({
      MONGODB_HOST: 'db1.example:27018',
      MONGODB_USERNAME: 'ad@min',
      MONGODB_PASSWORD: 'p@ss:w/rd%?',
    });
    expect(settings.uri).toBe('mongodb://ad%40min:p%40ss%3Aw%2Frd%25%3F@db1.example:27018/');
    expect(settings.hosts).toBe('db1.example:27018');
    expect(settings.description).toBe('mongodb://ad%40min:***@db1.example:27018/');
    expect(settings.secrets).toEqual(expect.arrayContaining(['p@ss:w/rd%?', 'p%40ss%3Aw%2Frd%25%3F']));
  });

  it('uses MONGODB_URI as given and hides its password in the description', () => {
    const settings = mongoSettingsFromEnv({
      MONGODB_URI: 'mongodb://bob:hunter%232@h1:1,h2:2/admin?replicaSet=rs0',
      MONGODB_HOST: 'ignored:1',
    });
    expect(settings.uri).toBe('mongodb://bob:hunter%232@h1:1,h2:2/admin?replicaSet=rs0');
    expect(settings.hosts).toBe('h1:1,h2:2');
    expect(settings.description).toBe('mongodb://bob:***@h1:1,h2:2/');
    expect(settings.secrets).toEqual(expect.arrayContaining(['hunter#2', 'hunter%232']));
    expect(settings.description).not.toContain('hunter');
  });

  it('adds MONGODB_USERNAME/PASSWORD to a MONGODB_URI without credentials', () => {
    const settings = mongoSettingsFromEnv({
      MONGODB_URI: 'mongodb+srv://cluster0.example.net/?retryWrites=true',
      MONGODB_USERNAME: 'u',
      MONGODB_PASSWORD: 'p w',
    });
    expect(settings.uri).toBe('mongodb+srv://u:p%20w@cluster0.example.net/?retryWrites=true');
    expect(settings.description).toBe('mongodb+srv://u:***@cluster0.example.net/');
  });

  it('takes MONGODB_DATABASE and treats empty variables as unset', () => {
    expect(mongoSettingsFromEnv({ MONGODB_DATABASE: 'other_db', MONGODB_URI: '' }).database).toBe('other_db');
    expect(mongoSettingsFromEnv({ MONGODB_DATABASE: '' }).database).toBe('cluster_db');
  });

  it.each([
    [{ MONGODB_PASSWORD: 'x' }, 'MONGODB_USERNAME'],
    [{ MONGODB_URI: 'http://host/' }, 'mongodb://'],
    [{ MONGODB_URI: 'mongodb:///db' }, 'no host'],
    [{ MONGODB_URI: 'mongodb://a:b@h/', MONGODB_USERNAME: 'c' }, 'both'],
    [{ MONGODB_HOST: 'user:pw@host' }, 'MONGODB_HOST'],
    [{ MONGODB_DATABASE: 'bad.name' }, 'MONGODB_DATABASE'],
    [{ MONGODB_DATABASE: 'x'.repeat(64) }, 'MONGODB_DATABASE'],
  ])('refuses %j', (env, mentions) => {
    expect(() => mongoSettingsFromEnv(env)).toThrow(InvalidDatabaseSettingsError);
    expect(() => mongoSettingsFromEnv(env)).toThrow(mentions);
  });

  it('never quotes a secret in its errors', () => {
    try {
      mongoSettingsFromEnv({ MONGODB_URI: 'mongodb://a:topsecret@h/', MONGODB_USERNAME: 'c', MONGODB_PASSWORD: 'alsosecret' });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toMatch(/topsecret|alsosecret/);
    }
  });
});

describe('parseMongoUri', () => {
  it('finds user, password and hosts; a password may contain an encoded @', () => {
    expect(parseMongoUri('mongodb://u:p%40x@h:1/db?x=1')).toEqual({
      scheme: 'mongodb',
      username: 'u',
      password: 'p@x',
      rawPassword: 'p%40x',
      hosts: 'h:1',
      rest: '/db?x=1',
    });
    expect(parseMongoUri('mongodb://h')).toEqual({ scheme: 'mongodb', hosts: 'h', rest: '' });
  });
});
